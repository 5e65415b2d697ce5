"""A local stand-in for the WeChat Official Account platform and for WeCom.

It talks to the bot only over HTTP (never by import): it signs/encrypts resident and staff
messages and posts them to the bot's callbacks with the platform's 5 s timeout and retries, and
serves the API endpoints the bot calls (`/cgi-bin/...`, `/wecom/cgi-bin/...`) with the
platform's limits. `/sim/api/...` drives it from tests; `/` is a page for humans.
Entry points: `simulator.app.create_simulator_app(config)` and `python -m simulator`.
"""
