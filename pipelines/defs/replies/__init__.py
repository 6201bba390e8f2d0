"""Replies: the sensor that reads email replies and bounces from the replies mailbox (IMAP)
into the ledger, and the sweep that processes any stored reply left unprocessed."""
