"""Printable A4 QR posters for grid points (`minqing qr posters`)."""
