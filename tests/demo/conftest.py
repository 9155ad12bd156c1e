"""Fixtures of the web demo's tests: a tiny random model (``tests.test_pipeline.make_model_dir``), a copy of it
with a prompt vocabulary, and a :class:`~meshflow.demo.Demo` whose temporary folder lies in the test's ``tmp_path``."""
import json
import shutil
import socket

import pytest

from meshflow.demo import Demo, DemoConfig
from meshflow.pipeline import AnimationPipeline
from tests.test_pipeline import make_model_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("demo_model") / "tiny")


@pytest.fixture(scope="session")
def tiny_pipe(tiny_model_dir):
    return AnimationPipeline.from_pretrained(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def vocab_pipe(tiny_model_dir, tmp_path_factory):
    """The tiny model with a prompt vocabulary (vocabulary.json) and a flow section that turns prompt matching
    on and sets rigidity 0.01: the model's defaults a request without them gets."""
    from meshflow.models.text.vocabulary import PromptVocabulary

    copy = tmp_path_factory.mktemp("demo_vocab_model") / "tiny"
    shutil.copytree(tiny_model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["flow"].update(match_prompt=True, rigidity=0.01)
    (copy / "config.json").write_text(json.dumps(config))
    PromptVocabulary(["jumps", "walks forward"]).save(copy)
    return AnimationPipeline.from_pretrained(copy, device="cpu")


@pytest.fixture
def make_demo(tiny_model_dir, tiny_pipe, tmp_path):
    """``make_demo(**config)``: a Demo over the tiny model (already loaded) in ``tmp_path / "app"``, closed
    after the test."""
    made = []

    def make(pipeline=tiny_pipe, **config):
        (tmp_path / "app").mkdir(exist_ok=True)
        config = {"model": str(tiny_model_dir), "device": "cpu", "temp_dir": str(tmp_path / "app"), **config}
        made.append(Demo(DemoConfig(**config), pipeline=pipeline))
        return made[-1]

    yield make
    for demo in made:
        demo.close()


@pytest.fixture
def demo(make_demo):
    return make_demo()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
