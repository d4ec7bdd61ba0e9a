import sys

from napari_convnet.cli import main

sys.exit(main())
