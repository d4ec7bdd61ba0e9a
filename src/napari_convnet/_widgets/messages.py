"""Core's error messages as a dock user reads them: advice about arguments the docks set for
the user (``channel_axis=``, ``layer_name``) reworded as the dock controls that set them."""

#: Advice in core errors that names arguments no dock has a control for → what to do there.
_REWORDED = (
    ("Pass channel_axis", "In 'Image layer', choose an image with the model's channel count: "
     "a grey image, or an RGB layer for a 3-channel model; open a multichannel file as one "
     "layer per channel (napari's 'channel_axis' when opening) and choose one, or convert "
     "the image first."),
    ("Use a CNN preset, or pass layer_name", "Grad-CAM needs one: train a CNN preset in the "
     "Train dock."),
    ("Crop the image, or choose fewer", "Choose a smaller image, or (Inspect) untick 'all "
     "convolution and pooling layers' and choose a later (smaller) layer in 'Feature maps "
     "of'."),
)


def dock_message(message):
    """Reword a core error's advice (``channel_axis=``, ``layer_name``) as dock controls."""
    message = message.replace("(channel_axis=-1)", "(an RGB layer)")
    for marker, advice in _REWORDED:
        if marker in message:
            message = message[:message.index(marker)].rstrip() + " " + advice
    return message
