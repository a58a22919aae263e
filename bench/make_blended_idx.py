#!/usr/bin/env python3
# N distinct synthetic images with class structure, as IDX files in OUT/: each is a blend of two
# Fashion-MNIST training images of the same class (weight 0.3-0.7) plus Gaussian noise (sigma 8), so
# neighbourhoods are not clusters of copies. Usage: make_blended_idx.py OUT [N] (default 1,000,000).
import gzip, struct, sys, numpy as np, os
F="/usr/share/datasets/fashion-mnist"
with gzip.open(os.path.join(F,"train-images-idx3-ubyte.gz")) as f: x=np.frombuffer(f.read()[16:],dtype=np.uint8).reshape(-1,784)
with gzip.open(os.path.join(F,"train-labels-idx1-ubyte.gz")) as f: y=np.frombuffer(f.read()[8:],dtype=np.uint8)
out=sys.argv[1] if len(sys.argv) > 1 else "blended"
n=int(sys.argv[2]) if len(sys.argv) > 2 else 1000000; rng=np.random.default_rng(0)
byclass=[np.flatnonzero(y==c) for c in range(10)]
cls=rng.integers(0,10,n)
os.makedirs(out,exist_ok=True)
with open(os.path.join(out,"big-images-idx3-ubyte"),"wb") as f:
    f.write(struct.pack(">IIII",0x803,n,28,28))
    for b in range(0,n,100000):
        c=cls[b:b+100000]; m=len(c)
        p1=np.array([rng.choice(byclass[k]) for k in c]); p2=np.array([rng.choice(byclass[k]) for k in c])
        w=rng.uniform(0.3,0.7,(m,1))
        img=w*x[p1]+(1-w)*x[p2]+rng.normal(0,8,(m,784))
        f.write(np.clip(img,0,255).astype(np.uint8).tobytes())
with open(os.path.join(out,"big-labels-idx1-ubyte"),"wb") as f:
    f.write(struct.pack(">II",0x801,n)); f.write(cls.astype(np.uint8).tobytes())
