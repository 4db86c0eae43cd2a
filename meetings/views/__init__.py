"""Meeting pages, one module per journey. Thin: reads through meetings.access, writes through
meetings.actions.

Every page behind the charter (like referrals), every read and download recorded in the audit
trail, every refusal a 404 identical to a missing id.
"""
