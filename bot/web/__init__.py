"""The web layer: the ASGI app `serve` runs (app.py), the webhooks (webhooks.py), the public
pages (public/), the browser sandbox (sandbox.py), the organisers' console (console/), and
what they share (pages.py: rendering and languages; charts.py: SVG charts)."""
