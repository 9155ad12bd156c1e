"""`meshflow.text` (documented in the README) is exactly the public face of `meshflow.models.text`."""
import meshflow.models.text as package
import meshflow.text as public


def test_meshflow_text_reexports_every_public_name():
    assert public.__all__ == package.__all__ and "CLIPTextEncoder" in public.__all__
    assert all(getattr(public, name) is getattr(package, name) for name in package.__all__)
