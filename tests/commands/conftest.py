"""The eval fixtures (procedural animations and their clip folder) serve `meshflow eval` too."""
from tests.eval.conftest import clip_folder, labelled_anims

__all__ = ["clip_folder", "labelled_anims"]
