"""The reference virtual agent: its dialog (pure), its records, and the TwiML that starts it."""
