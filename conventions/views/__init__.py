"""Convention and charter pages, one module per journey. Thin: reads through
conventions.access, writes through conventions.actions.
"""
