"""The sandbox: a local peer that behaves like WeCom (and WeChat) on the wire.

Start it with `SandboxServer(config)` (or mount `create_sandbox_app(config)` yourself), set the
corp up through `SandboxState` or ``/_sandbox`` endpoints, and let `CallbackSender` play
WeCom's encrypted callbacks to the service.
"""

from scrm.sandbox.app import SandboxServer, callback_sender, create_sandbox_app
from scrm.sandbox.calls import Call, CallLog
from scrm.sandbox.config import SandboxConfig
from scrm.sandbox.faults import Fault, FaultPlan
from scrm.sandbox.scenarios import AddContactResult, add_contact, edit_contact, remove_contact
from scrm.sandbox.sender import CallbackSender, Delivery
from scrm.sandbox.state import STATE, SandboxState

__all__ = [
    "STATE",
    "AddContactResult",
    "Call",
    "CallLog",
    "CallbackSender",
    "Delivery",
    "Fault",
    "FaultPlan",
    "SandboxConfig",
    "SandboxServer",
    "SandboxState",
    "add_contact",
    "callback_sender",
    "create_sandbox_app",
    "edit_contact",
    "remove_contact",
]
