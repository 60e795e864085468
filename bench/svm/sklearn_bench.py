#!/usr/bin/python3
"""scikit-learn side of bench/svm/run.ts (needs python3-sklearn; not used by tests).

Usage: sklearn_bench.py <dir> [--skip-grid]
<dir> holds Xtrain.npy (float32 N x D), ytrain.npy, Xtest.npy, ytest.npy, test_fold.npy (ftk's folds).
Prints one JSON object on stdout.
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def main():
    d = sys.argv[1]
    skip_grid = '--skip-grid' in sys.argv
    Xtr = np.load(d + '/Xtrain.npy')
    ytr = np.load(d + '/ytrain.npy')
    Xte = np.load(d + '/Xtest.npy')
    yte = np.load(d + '/ytest.npy')
    test_fold = np.load(d + '/test_fold.npy')
    out = {'sklearn': sklearn.__version__, 'numpy': np.__version__}

    fit_times = []
    for _ in range(3):
        model = make_pipeline(StandardScaler(), SVC(C=1.0, kernel='rbf', gamma='scale'))
        t = time.perf_counter()
        model.fit(Xtr, ytr)
        fit_times.append(time.perf_counter() - t)
    t = time.perf_counter()
    pred = model.predict(Xte)
    out['predictSeconds'] = time.perf_counter() - t
    out['fitSeconds'] = fit_times
    out['testAccuracy'] = float(np.mean(pred == yte))
    out['nSupport'] = int(model.steps[-1][1].support_.shape[0])

    if not skip_grid:
        grid = {
            'svc__C': [2.0 ** e for e in range(-5, 16, 2)],
            'svc__gamma': [2.0 ** e for e in range(3, -16, -2)],
        }
        gs = GridSearchCV(make_pipeline(StandardScaler(), SVC()), grid, cv=PredefinedSplit(test_fold), n_jobs=2, refit=True)
        t = time.perf_counter()
        gs.fit(Xtr, ytr)
        out['gridSeconds'] = time.perf_counter() - t
        out['gridBest'] = {'C': gs.best_params_['svc__C'], 'gamma': gs.best_params_['svc__gamma'], 'score': float(gs.best_score_)}
        out['gridTable'] = [
            {'C': p['svc__C'], 'gamma': p['svc__gamma'], 'mean': float(m)}
            for p, m in zip(gs.cv_results_['params'], gs.cv_results_['mean_test_score'])
        ]
        out['gridTestAccuracy'] = float(np.mean(gs.predict(Xte) == yte))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
