"""The venue registry as the window reads it: labels, endpoint roles, secret checks (DESIGN.md).

The ui never imports ``app.venues``; what it needs to know about a kind of venue comes from here.
"""

from __future__ import annotations

from app.venues.base import VenueStatus
from app.venues.registry import DESCRIPTORS, EndpointRole, VenueDescriptor, descriptor

__all__ = ["DESCRIPTORS", "EndpointRole", "VenueDescriptor", "VenueStatus", "descriptor"]
