"""The one bounded HTTP client: a total deadline per request, answers capped in bytes, cancellation, proxies, lazy
TLS, the retry policy. Every request of every stage goes through it.

May import publisher.config and publisher.report.
"""
