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
    'demo': 'demo',
    'eval': 'eval',
    'inspect': 'inspect',
    'models': 'models',
    'preview': 'preview',
    'reconstruct': 'reconstruct',
    'rig': 'rig',
    'train': 'train',
}
SUMMARIES = {
    'animate': 'animate a mesh from a text prompt and write .glb/.gltf, .npz or an OBJ sequence',
    'convert-original': 'turn original AnimateAnyMesh checkpoints into a meshflow model directory (no pickles)',
    'data': 'animation data: list and sample glTF clips, build training clips',
    'demo': 'the web app: animate a mesh in the browser and watch it play in 3D (Gradio)',
    'eval': 'evaluate a model: VAE reconstruction, quality of (generated) animations',
    'inspect': "print a mesh file's vertex, face, edge and component counts",
    'models': 'Hugging Face Hub models: pull (download + convert once), list and rm the cached copies',
    'preview': 'render an animation (.glb/.gltf/.npz) to a .gif, .mp4 or .png headlessly',
    'reconstruct': 'DyMeshVAE round trip of an animation (posterior mean)',
    'rig': 'fit a skinned rig (linear blend skinning, SSDR) to an animation and write a skinned .glb/.gltf',
    'train': 'train the DyMeshVAE or the flow (Accelerate; also under accelerate launch/torchrun)',
}
