"""Eldercare home-visit booking (居家养老上门服务): catalogue, slots, bookings, reminders."""
