"""The WeCom / WeChat adapters: API client, robot webhook, mini-program client, error ladder."""

from adapters.wecom.backoff import RetryPolicy, backoff_delay
from adapters.wecom.client import WeComClient
from adapters.wecom.errors import (
    WeComAPIError,
    WeComAuthError,
    WeComConnectionError,
    WeComError,
    WeComPermissionError,
)
from adapters.wecom.miniprogram import MiniProgramClient
from adapters.wecom.models import (
    ContactWay,
    CorpTag,
    CorpTagGroup,
    ExternalContact,
    ExternalContactDetail,
    FollowUser,
    FollowUserTag,
    MessageSendResult,
    MiniProgramSession,
    OAuthUserInfo,
)
from adapters.wecom.robot import RobotWebhookClient

__all__ = [
    "ContactWay",
    "CorpTag",
    "CorpTagGroup",
    "ExternalContact",
    "ExternalContactDetail",
    "FollowUser",
    "FollowUserTag",
    "MessageSendResult",
    "MiniProgramClient",
    "MiniProgramSession",
    "OAuthUserInfo",
    "RetryPolicy",
    "RobotWebhookClient",
    "WeComAPIError",
    "WeComAuthError",
    "WeComClient",
    "WeComConnectionError",
    "WeComError",
    "WeComPermissionError",
    "backoff_delay",
]
