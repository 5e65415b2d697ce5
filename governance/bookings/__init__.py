"""Eldercare home-visit booking: catalogue, slots, bookings, reminders."""
