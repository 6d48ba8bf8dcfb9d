"""What a session leaves on disk: the journal of every message and the state folder."""
