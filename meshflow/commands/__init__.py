"""The ``meshflow`` command line, one module per subcommand (the list is ``COMMAND_MODULES`` below;
:mod:`meshflow.commands.main` dispatches).

Each module has ``NAME``, ``add_parser(subparsers)`` and ``run(args)``; only this package
parses arguments and prints.
"""
import warnings

# Noise from library imports that users can do nothing about (the subcommands import the library).
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)

# The subcommands, in the order of `meshflow --help`: name -> module, and name -> one-line summary. `meshflow --help`
# reads only this, so the library (torch, PyG) is imported only for the subcommand that runs.
COMMAND_MODULES = {
    'animate': 'animate',
    'convert-original': 'convert_original',
    'data': 'data',
    'eval': 'eval',
    'inspect': 'inspect',
    'preview': 'preview',
    'reconstruct': 'reconstruct',
    'train': 'train',
}
SUMMARIES = {
    'animate': 'animate a mesh from a text prompt and write .glb/.gltf, .npz or an OBJ sequence',
    'convert-original': 'turn original AnimateAnyMesh checkpoints into a meshflow model directory (no pickles)',
    'data': 'animation data: list and sample glTF clips, build training clips',
    'eval': 'evaluate a model: VAE reconstruction, quality of (generated) animations',
    'inspect': "print a mesh file's vertex, face, edge and component counts",
    'preview': 'render an animation (.glb/.gltf/.npz) to a .gif, .mp4 or .png headlessly',
    'reconstruct': 'DyMeshVAE round trip of an animation (posterior mean)',
    'train': 'train the DyMeshVAE or the flow (Accelerate; also under accelerate launch/torchrun)',
}
