from napari_convnet.engine.server import main

main()
