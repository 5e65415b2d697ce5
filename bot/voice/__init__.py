"""Voice in the bot: hear a resident's voice message (download, store, convert, recognise),
speak replies to elders from prompt clips, and serve recordings to staff by signed link.

The audio work itself lives in the `voice/` library; this package wires it to WeChat, the
database and the outbox.
"""
