"""The built-in task types, one small module each; `workers.registry` imports them lazily.

Nothing here runs at import time besides registering the types.
"""
