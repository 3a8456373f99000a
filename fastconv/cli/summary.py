"""``python -m fastconv summary MODEL``: print a seed model's layer table."""
import argparse

NAME = "summary"


def register(subparsers):
    p = subparsers.add_parser(
        NAME, help="print a seed model's layers, output shapes, parameter counts and memory",
        description="Print the Keras-style summary of a seed model: every layer's output shape and "
                    "parameter count, the totals, and the memory of the inputs, activations and "
                    "parameters for one batch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", choices=("mnist", "simple", "cifar", "edges"),
                   help="mnist = MnistCNN (1x28x28), simple = SimpleCNN (1x28x28), cifar = CifarCNN (3x32x32), "
                        "edges = EdgePipeline (1x300x300)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size for the memory figures")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..models import get_model
    from ..nn import summary

    if args.batch_size <= 0:
        raise SystemExit("--batch-size must be positive")
    model = get_model(args.model)
    summary(model, model.input_shape, batch_size=args.batch_size)
    return 0
