#!/usr/bin/env python3
"""Checks an ftk-exported ONNX classifier with the ONNX Python package, and evaluates it with a
small NumPy interpreter written independently of ONNX Runtime.

Why an interpreter of our own: Debian 12's python3-onnx is ONNX 1.12, which has `onnx.checker`
and shape inference but not `onnx.reference` (added in ONNX 1.13), and Debian packages no
onnxruntime for Python. Each operator below follows the ONNX operator specification (opset 13)
directly in NumPy; it covers the operators ftk's exporter writes (zoo backbones + SVM / softmax
heads) and stops with a clear message on any other.

Usage: onnx_reference.py model.onnx image.rgb:HEIGHT:WIDTH [...]
  each image: raw uint8 RGB bytes, row-major HWC (what `decodeImageRgb` returns).
Prints one JSON document: checker result, opset, metadata, and per image the probabilities/label.
"""
import json
import sys

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import helper, numpy_helper

DTYPES = {1: np.float32, 2: np.uint8, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def conv(x, w, b, a):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    g = a.get('group', 1)
    sh, sw = a.get('strides', [1, 1])
    dh, dw = a.get('dilations', [1, 1])
    pads = a.get('pads', [0, 0, 0, 0])
    if a.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
        raise NotImplementedError('Conv auto_pad')
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    win = sliding_window_view(x, (eh, ew), axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]  # n c oh ow kh kw
    oh, ow = win.shape[2], win.shape[3]
    win = win.reshape(n, g, c // g, oh, ow, kh, kw)
    wg = w.reshape(g, m // g, cg, kh, kw)
    y = np.einsum('ngchwij,gmcij->ngmhw', win, wg, optimize=True).reshape(n, m, oh, ow)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y.astype(x.dtype)


def resize_linear_half_pixel(x, sizes):
    """ONNX Resize, mode linear, coordinate_transformation_mode half_pixel, on the last two axes."""
    out = x.astype(np.float32)
    for axis in (2, 3):
        n_in, n_out = out.shape[axis], int(sizes[axis])
        if n_in == n_out:
            continue
        scale = n_out / n_in
        xo = (np.arange(n_out, dtype=np.float64) + 0.5) / scale - 0.5
        xo = np.clip(xo, 0, n_in - 1)
        lo = np.floor(xo).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        t = (xo - lo).astype(np.float32)
        a = np.take(out, lo, axis=axis)
        bb = np.take(out, hi, axis=axis)
        shape = [1, 1, 1, 1]
        shape[axis] = n_out
        t = t.reshape(shape)
        out = a + (bb - a) * t
    return out.astype(np.float32)


def reduce(fn, x, axes, keepdims):
    axes = None if axes is None or len(axes) == 0 else tuple(int(v) for v in axes)
    return fn(x, axis=axes, keepdims=bool(keepdims))


def run_node(node, v, scope):
    a = attrs(node)
    ins = [scope(i) if i else None for i in node.input]
    op = node.op_type
    x = ins[0] if ins else None
    if op == 'Identity':
        return [x]
    if op == 'Cast':
        return [x.astype(DTYPES[a['to']])]
    if op == 'Transpose':
        return [np.transpose(x, a['perm'])]
    if op == 'Shape':
        return [np.array(x.shape, dtype=np.int64)]
    if op == 'Slice':
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        sl = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            sl[int(ax)] = slice(int(s), int(min(e, 2**62)), int(st))
        return [x[tuple(sl)]]
    if op == 'Concat':
        return [np.concatenate(ins, axis=a['axis'])]
    if op == 'Resize':
        if a.get('mode') != b'linear' or a.get('coordinate_transformation_mode') != b'half_pixel':
            raise NotImplementedError('Resize other than linear/half_pixel')
        return [resize_linear_half_pixel(x, ins[3])]
    binary = {'Add': np.add, 'Sub': np.subtract, 'Mul': np.multiply, 'Div': np.divide, 'Max': np.maximum, 'Min': np.minimum,
              'Greater': np.greater, 'Less': np.less, 'Equal': np.equal, 'Or': np.logical_or, 'And': np.logical_and}
    if op in binary:
        out = ins[0]
        for y in ins[1:]:
            out = binary[op](out, y)
        if op == 'Div' and np.issubdtype(ins[0].dtype, np.integer):
            out = np.trunc(out)
        return [np.asarray(out).astype(ins[0].dtype if op not in ('Greater', 'Less', 'Equal', 'Or', 'And') else np.bool_)]
    unary = {'Exp': np.exp, 'Abs': np.abs, 'Sqrt': np.sqrt, 'Floor': np.floor, 'Relu': lambda t: np.maximum(t, 0), 'Not': np.logical_not,
             'Sigmoid': lambda t: 1 / (1 + np.exp(-t)), 'Tanh': np.tanh}
    if op in unary:
        return [unary[op](x).astype(x.dtype)]
    if op == 'Clip':
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
        return [np.clip(x, lo, hi).astype(x.dtype)]
    if op == 'Where':
        return [np.where(ins[0], ins[1], ins[2])]
    if op == 'Gather':
        return [np.take(x, ins[1], axis=a.get('axis', 0))]
    if op == 'Squeeze':
        return [np.squeeze(x, axis=tuple(int(t) for t in ins[1]))]
    if op == 'Unsqueeze':
        return [np.expand_dims(x, axis=tuple(int(t) for t in ins[1]))]
    if op == 'Reshape':
        shape = [x.shape[i] if int(d) == 0 else int(d) for i, d in enumerate(ins[1])]
        return [x.reshape(shape)]
    if op == 'Flatten':
        ax = a.get('axis', 1)
        return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    if op == 'MatMul':
        return [np.matmul(ins[0], ins[1]).astype(ins[0].dtype)]
    if op == 'Gemm':
        A = ins[0].T if a.get('transA') else ins[0]
        B = ins[1].T if a.get('transB') else ins[1]
        y = a.get('alpha', 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get('beta', 1.0) * ins[2]
        return [y.astype(ins[0].dtype)]
    if op == 'ReduceSum':
        return [reduce(np.sum, x, ins[1] if len(ins) > 1 else None, a.get('keepdims', 1)).astype(x.dtype)]
    if op in ('ReduceMax', 'ReduceMin'):
        return [reduce(np.max if op == 'ReduceMax' else np.min, x, a.get('axes'), a.get('keepdims', 1))]
    if op == 'ArgMax':
        r = np.argmax(x, axis=a.get('axis', 0))
        return [np.expand_dims(r, a.get('axis', 0)) if a.get('keepdims', 1) else r]
    if op == 'Softmax':
        ax = a.get('axis', -1)
        e = np.exp(x - x.max(axis=ax, keepdims=True))
        return [(e / e.sum(axis=ax, keepdims=True)).astype(x.dtype)]
    if op == 'BatchNormalization':
        s, b, m, var = ins[1:5]
        shp = (1, -1) + (1,) * (x.ndim - 2)
        return [((x - m.reshape(shp)) / np.sqrt(var.reshape(shp) + a.get('epsilon', 1e-5)) * s.reshape(shp) + b.reshape(shp)).astype(x.dtype)]
    if op == 'Conv':
        return [conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == 'Pad':
        p = [int(t) for t in ins[1]]
        r = x.ndim
        return [np.pad(x, [(p[i], p[i + r]) for i in range(r)])]
    if op == 'GlobalAveragePool':
        return [x.mean(axis=(2, 3), keepdims=True).astype(x.dtype)]
    if op == 'GlobalMaxPool':
        return [x.max(axis=(2, 3), keepdims=True)]
    if op == 'TopK':
        # k largest (or smallest) along `axis`, sorted; ties keep the lower index (ONNX's rule).
        k = int(np.asarray(ins[1]).reshape(-1)[0])
        axis = a.get('axis', -1)
        largest = a.get('largest', 1)
        order = np.argsort(-x if largest else x, axis=axis, kind='stable')
        idx = np.take(order, np.arange(k), axis=axis)
        return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)]
    if op == 'Loop':
        body = a['body']
        trip = int(ins[0]) if ins[0] is not None else 2**62
        cond = bool(ins[1]) if ins[1] is not None else True
        carried = ins[2:]
        i = 0
        while i < trip and cond:
            local = {body.input[0].name: np.array(i, dtype=np.int64), body.input[1].name: np.array(cond)}
            for inp, val in zip(body.input[2:], carried):
                local[inp.name] = val
            outs = run_graph(body, local, scope)
            cond = bool(outs[0])
            carried = outs[1:]
            i += 1
        return carried
    raise NotImplementedError(f'operator {op} is not in this interpreter')


def run_graph(graph, values, outer=None):
    def scope(name):
        if name in values:
            return values[name]
        return outer(name)
    for node in graph.node:
        outs = run_node(node, values, scope)
        for name, val in zip(node.output, outs):
            values[name] = val
    return [values[o.name] for o in graph.output]


def main():
    model = onnx.load(sys.argv[1])
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    results = []
    for spec in sys.argv[2:]:
        path, h, w = spec.rsplit(':', 2)
        pixels = np.fromfile(path, dtype=np.uint8).reshape(1, int(h), int(w), 3)
        local = dict(values)
        local[model.graph.input[0].name] = pixels
        # probabilities, label (and unknown_score when the model carries a detector)
        probs, label = run_graph(model.graph, local)[:2]
        results.append({'probabilities': probs[0].astype(float).tolist(), 'label': int(label[0])})
    print(json.dumps({
        'checker': 'ok',
        'shapeInference': 'ok' if inferred is not None else 'none',
        'onnxVersion': onnx.__version__,
        'numpyVersion': np.__version__,
        'opset': {o.domain or '': o.version for o in model.opset_import},
        'irVersion': model.ir_version,
        'metadata': {p.key: p.value for p in model.metadata_props},
        'results': results,
    }))


if __name__ == '__main__':
    main()
