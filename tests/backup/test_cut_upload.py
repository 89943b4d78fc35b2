"""An upload cut in the middle of its body leaves nothing that lists as a backup.

A TCP proxy between arxdeploy and the real server relays a few hundred KiB of the archive and
then drops both connections, and every connection after (``tests/fixtures/proxy.py``): the
single PUT, or the multipart upload, of the archive never completes, and the index, written
last, is never written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arxdeploy.domain.events import Deployment
from arxdeploy.errors import BackupError
from tests.fixtures.proxy import cutting

from .conftest import Place
from .test_stored import EXPORT

MIB = 1024 * 1024


@pytest.mark.parametrize("size", [2 * MIB, 12 * MIB], ids=["one-put", "multipart"])
def test_an_upload_cut_mid_body_leaves_no_whole_backup(place: Place, size: int) -> None:
    if place.kind == "folder":
        pytest.skip("a folder is written without a network")
    whole = place.deployment()
    place.backups().save(deployment=whole, export=EXPORT)

    def random_dump(deployment: Deployment, folder: Path) -> dict[str, Path]:
        # Random bytes: gzip cannot shrink them below what must cross the proxy.
        path = folder / "arxos.sql"
        path.write_bytes(os.urandom(size))
        return {"arxos.sql": path}

    cut = place.deployment()
    with cutting(place.endpoint, cut_after=size // 4) as proxy:
        storage = place.make(endpoint=proxy.url)
        with pytest.raises(BackupError):
            place.backups(storage=storage, dumps=random_dump).save(deployment=cut, export=EXPORT)
        assert proxy.cut  # the proxy did cut: the failure is the cut, not something before it

    listing = place.backups().listing(environment="staging")
    assert [b.id for b in listing.whole] == [whole.id]
    assert cut.id not in {b.id for b in listing.whole}
    assert place.backups().get(whole.id).id == whole.id
    # And the next backup's retention pass takes away whatever part of it the server kept.
    later = place.deployment()
    place.backups().save(deployment=later, export=EXPORT)
    left = {o.key.rsplit("/", 1)[-1] for o in place.storage.list("arxos/staging/")}
    assert not any(name.startswith(cut.id) for name in left)
