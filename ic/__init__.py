"""Integration Client: copies BeyondTrust session data, recordings and backups to folders and SQL databases."""

__version__ = "0.1.0"
APP_NAME = "IntegrationClient"
APP_AUTHOR = "IntegrationClient"

__all__ = ["APP_AUTHOR", "APP_NAME", "__version__"]
