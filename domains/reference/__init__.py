"""Reference data sample domain: exchanges and their trading calendars."""
