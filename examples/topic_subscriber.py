"""Receive the Images a publisher sends on topic "image" (for example the C
publisher examples/camera_pub.c) and print frames/s and latency.

    python examples/topic_subscriber.py [seconds]
"""

import sys
import time

import numpy as np

from horus import Image, Topic


def main(seconds=5.0):
    topic = Topic(Image)
    end = time.monotonic() + seconds
    latencies, frames, t0 = [], 0, time.monotonic()
    while time.monotonic() < end:
        img = topic.recv(timeout=0.5)
        if img is None:
            continue
        latencies.append((time.monotonic_ns() - img.timestamp_ns) / 1e3)
        pixels = img.to_numpy()  # zero-copy view of the publisher's frame
        frames += 1
        if time.monotonic() - t0 >= 1.0:
            print(f"{frames / (time.monotonic() - t0):.1f} frames/s, latency median "
                  f"{np.median(latencies):.0f} us, frame {img.width}x{img.height} "
                  f"{img.encoding} from '{img.frame_id}', mean pixel {pixels.mean():.1f}")
            latencies, frames, t0 = [], 0, time.monotonic()
    print(topic.stats())


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
