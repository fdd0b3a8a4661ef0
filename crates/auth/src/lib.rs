//! Sans-IO registry authentication: challenges, scopes, credentials, token requests and a token cache.
