"""What each option does, in the words the docks show as tooltips. Keras-free.

The regularisation entries quote what the Keras course this plugin grows out of measured on
CIFAR-10 with its VGG-style baseline (``../shared/reference/convnet-course-part2.md``; here
``vgg3``): 75.5 % test accuracy, overfitting after epoch 5. Results on other data differ; the
course's advice is to try and compare (the runs table does that).
"""

#: Course figures, test accuracy of the VGG baseline on CIFAR-10 with each change.
COURSE = {
    "baseline": "75.5 %",
    "dropout": "77.7 %, no overfitting",
    "l2": "61.5 %, no overfitting",
    "augment": "82 %, less overfitting",
    "dropout+augment": "75.5 %",
    "augment+batchnorm": "89.2 %",
}

TRAIN = {
    "preset": "The network to train: dense-* are the course's dense networks, course-cnn its "
              "first CNN, vgg1-vgg3 the VGG-style baseline with 1-3 blocks, vgg16/mobilenetv2 "
              "transfer learning from ImageNet backbones. 'Show parameters and layers' counts "
              "its weights.",
    "dropout": "Randomly turns off 20/30/40/40 % of the neurons after each block while training, "
               "so neurons learn to work independently. In the course (VGG baseline, CIFAR-10): "
               f"{COURSE['baseline']} -> {COURSE['dropout']}; with augmentation as well "
               f"{COURSE['dropout+augment']}.",
    "batchnorm": "Standardises each layer's inputs per mini-batch: faster, steadier training. In "
                 "the course, augmentation + batch normalisation gave the best result: "
                 f"{COURSE['baseline']} -> {COURSE['augment+batchnorm']}.",
    "augment": "Shows every training image shifted, flipped and rotated by 90° (new each epoch), "
               "as a microscope could have recorded it. In the course: "
               f"{COURSE['baseline']} -> {COURSE['augment']}.",
    "l2": "Penalises large weights (kernel_regularizer L2 with this factor; 0 = off; the course "
          "used 1e-4). In the course it stopped overfitting but cost accuracy: "
          f"{COURSE['baseline']} -> {COURSE['l2']}.",
    "fine_tune": "Transfer-learning presets: also train the ImageNet backbone (slower; for data "
                 "unlike photographs). Off: only the new classifier head learns.",
    "weights": "Local ImageNet weights file (.h5) for the transfer-learning presets; empty = the "
               "Keras cache (nothing is downloaded while training).",
    "epochs": "Passes over the training images. When continuing training, this many more "
              "epochs are run after the model's earlier ones.",
    "batch_size": "Images per training step. Larger is faster on a GPU and needs more memory; "
                  "lower it after an out-of-memory error.",
    "optimizer": "adam adapts each weight's step (usual rate 1e-3); sgd with momentum 0.9 "
                 "(usual rate 1e-2).",
    "learning_rate": "Step size of the optimiser; each optimiser's usual rate is filled in when "
                     "it is chosen.",
    "early_stopping": "Stop when the validation accuracy has not improved for this many epochs "
                      "(0 = off); the best epoch's weights are kept either way.",
    "class_weights": "Weigh each class by the inverse of its image count, so a rare class "
                     "counts as much as a common one (imbalanced data).",
}

DATA = {
    "image_height": "Height the model sees: every image is resized to it (see Resize).",
    "image_width": "Width the model sees: every image is resized to it (see Resize).",
    "validation_split": "Share of each class's images held back to measure the model during "
                        "training (not used when the folder has a val/ folder).",
    "seed": "Fixes which images go to validation and the shuffling, so runs are comparable.",
    "per_class": "How many images of each class 'Open samples as layer' shows.",
}

INSPECT = {
    "layer": "The convolution whose learned kernels are shown (one tile per filter).",
    "montage": "One grid of all kernels beside the image; untick for a 4D stack on sliders "
               "(input channel, filter).",
    "image_layer": "The image to look at (its slice on screen): follows the layer selected in "
                   "the layer list; the plugin's result layers are not offered.",
    "maps_layer": "The layer whose feature maps are shown over the image (one per filter, on "
                  "the 'filter' slider); only layers with spatial maps are offered.",
    "all_layers": "One feature-map layer per convolution and pooling layer, the first visible.",
    "target_class": "The class Grad-CAM explains: which parts of the image raise its score.",
}

CLASSIFY = {
    "mode": "image: the slice on screen; stack: every slice; tiled class map: a class per "
            "pixel from overlapping tiles; objects: each object of a Labels layer; folder: "
            "every image file of a folder.",
    "folder": "Folder mode: every image file in it (sub-folders included) is classified.",
    "stride": "Tiled class map: pixels between neighbouring tiles; 0 = half a tile. Smaller "
              "is smoother and slower.",
    "min_confidence": "Tiled class map: pixels whose best class is below this probability "
                      "stay unlabelled (0 = label every pixel).",
}

EVALUATE = {
    "folder": "The labelled folder to evaluate on (the Workflow dock fills in its data "
              "folder); the model's own preprocessing is used.",
    "split": "Which images: the test split when the folder has one (else all), or one split "
             "as training made it (same seed and validation share).",
    "normalised": "Show each true class's row as shares of its images instead of counts.",
    "new_class": "The class the image on screen really belongs to (for Move / Copy).",
    "copy": "Copy the image into the right class's folder instead of moving it.",
}

IMPORT = {
    "source": "A Keras classifier made elsewhere: a .keras file (Keras 3), a .h5 file "
              "(tf.keras / Keras 2, e.g. the course's notebooks) or a bioimage.io package "
              "(.zip) with Keras weights. It is saved as a model bundle beside it "
              "(<name>-imported.keras) and becomes the current model.",
    "class_names": "One name per model output, in the order of its outputs, separated by "
                   "commas (or the path of a text file with one name per line). A "
                   "bioimage.io package brings its own.",
    "normalization": "How the model's training images were scaled. range: divided by 255 "
                     "(65535 for 16-bit), as Keras' examples and the course do; percentile: "
                     "each image's low/high percentiles -> 0 and 1; none: raw values. Check "
                     "with 'Preview preprocessing' on an open image.",
    "resize": "Images of another size are fitted to the model's input: pad (keep the aspect "
              "ratio, pad), crop (centre-crop) or stretch.",
    "image_layer": "The image the preview shows, before and after preprocessing.",
    "any_height": "Height the model is used at when it takes images of any size: the size "
                  "it was trained at.",
    "any_width": "Width the model is used at when it takes images of any size.",
}

EXPORT = {
    "out": "OUT.zip: a bioimage.io model package (Keras and ONNX weights, class names, "
           "normalisation, test images, README with the training record), checked with "
           "bioimage.io's own test, for Fiji/deepImageJ, QuPath, ilastik or bioimageio.core. "
           "OUT.onnx: an ONNX file, checked against Keras with onnxruntime.",
    "model_name": "Title of the model in the package (5 to 128 characters).",
    "model_description": "What it classifies, from which images (one or two sentences).",
    "authors": "Names of the people who made it, separated by commas (required for a package).",
    "license": "Licence of the weights, as an SPDX identifier: CC-BY-4.0, MIT, BSD-3-Clause…",
    "cite": "How to cite it: a text, then a DOI (10.xxxx/…) or a URL. Empty: napari-convnet.",
}
