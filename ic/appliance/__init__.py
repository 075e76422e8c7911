"""Client for the BeyondTrust appliance API (OAuth, reporting, recordings, backup). See docs/CONTRACTS.md."""
from ic.appliance.client import PRODUCT_LABELS, ApplianceClient, Download, SessionSummary
from ic.appliance.factory import client_for_site

__all__ = ["ApplianceClient", "Download", "SessionSummary", "PRODUCT_LABELS", "client_for_site"]
