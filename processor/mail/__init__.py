"""Mail: receiving (SMTP, IMAP, Maildir → one spool), attachments into the pipeline, the outgoing queue.

Other areas mail something with one call: ``processor.mail.outgoing.enqueue(session, to=..., subject=...,
template=..., context=..., attachments=[paths], entitled=...)`` inside their own transaction."""
