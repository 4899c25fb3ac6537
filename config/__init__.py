"""Configuration: process settings (``config.settings``, environment) and the service rules
(``config.rules``, versioned data files).

Nothing is re-exported here: importing ``config.rules`` (pure) must not load the settings.
"""
