"""The spec's ML pipeline example, verbatim (runs until Ctrl-C)."""

from horus import Node, Scheduler, Topic, Image
import numpy as np

def camera_tick(node):
    frame = np.random.randint(0, 255, (480, 640, 3), dtype=np.uint8)
    img = Image.from_numpy(frame, encoding="rgb8")
    img.set_frame_id("camera_front")
    img_topic.send(img)

def inference_tick(node):
    img = img_topic.recv()
    if img:
        # Zero-copy to PyTorch for inference
        tensor = img.to_torch()  # No data copy!
        # ... run model ...

img_topic = Topic(Image)
camera = Node(name="camera", tick=camera_tick, rate=30)
model = Node(name="model", tick=inference_tick, rate=30)

scheduler = Scheduler()
scheduler.add(camera, order=0)
scheduler.add(model, order=1)
scheduler.run()
