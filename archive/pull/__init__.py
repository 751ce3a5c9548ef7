"""The WeCom session-archive pull (会话内容存档).

GetChatData through Tencent's Finance SDK, which runs in a child process.
"""
