"""End-to-end tests in a real browser (Debian chromium + Playwright): see conftest.py."""
