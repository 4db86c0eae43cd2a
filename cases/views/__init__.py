"""Referral pages, one module per journey. Thin: reads through cases.access, writes through
cases.actions; every page that shows content records the read through the audit core; every
refusal is a 404.
"""
