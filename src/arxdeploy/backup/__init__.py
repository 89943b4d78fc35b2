"""Backups: what is saved before each change, where it is kept, and how it is checked.

One owner for all of it, whatever the target and wherever the backups go:

- ``contents``  what a backup holds, by where it sits in the archive (the target's export, the
                config and the files it names, the environment's history, database dumps)
- ``manifest``  the manifest inside a backup (sha256 and size of every file, sorted) and the
                index beside it (what listings read without opening it); the id check
- ``archive``   the archive format: one tar.gz per backup, written and read as a stream
- ``crypto``    age encryption (pyrage): the deploying job holds only public keys
- ``storage``   where: a local folder, S3 (boto3) or Azure Blob (azure-storage-blob), behind one
                small protocol; each SDK is imported by its own module, only when used
- ``retention`` which backups go: by count and by age
- ``stored``    ``StoredBackups``: ``arxdeploy.ports.Backups`` over all of the above

Targets only produce their part (``Target.export``) and consume it on a restore; they never
write a manifest or a file of a backup.
"""
