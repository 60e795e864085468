#!/usr/bin/python3
"""Generates test/fixtures/svm/sklearn_svc.json: known answers of scikit-learn's SVC.

Needs python3-sklearn (Debian: apt-get install -y python3-sklearn); NOT used by the tests, which
read only the committed JSON. Run from the repo root:

    /usr/bin/python3 bench/svm/make_fixtures.py

Inputs are rounded to float32 first, so ftk (float32) and scikit-learn (float64) see the same values.
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def svc_of(est):
    return est.steps[-1][1] if hasattr(est, 'steps') else est


def case(name, est, Xtr, ytr, Xte, scaler, params):
    est.fit(Xtr, ytr)
    svc = svc_of(est)
    out = {
        'name': name,
        'scaler': scaler,
        'params': params,
        'Xtrain': Xtr.tolist(),
        'ytrain': ytr.tolist(),
        'Xtest': Xte.tolist(),
        'classes': svc.classes_.tolist(),
        'support': svc.support_.tolist(),
        'nSupport': svc.n_support_.tolist(),
        'dualCoef': svc._dual_coef_.tolist(),
        'intercept': svc._intercept_.tolist(),
        'gamma': float(svc._gamma),
        'predict': est.predict(Xte).tolist(),
    }
    if len(svc.classes_) > 2:
        est_ovo = est
        svc.decision_function_shape = 'ovo'
        out['decisionOvo'] = est_ovo.decision_function(Xte).tolist()
        svc.decision_function_shape = 'ovr'
        out['decisionOvr'] = est.decision_function(Xte).tolist()
    else:
        out['decision'] = est.decision_function(Xte).tolist()
    if svc.probability:
        out['probA'] = svc.probA_.tolist()
        out['probB'] = svc.probB_.tolist()
        out['supportVectors'] = svc.support_vectors_.tolist()
        out['proba'] = est.predict_proba(Xte).tolist()
    return out


def main():
    rng = np.random.RandomState(0)
    X3, y3 = make_blobs(n_samples=150, centers=3, n_features=6, cluster_std=2.5, random_state=1)
    X3 = f32(X3 * 0.7 + 3.0)
    Xtr, ytr, Xte = X3[:120], y3[:120], X3[120:]
    # imbalanced subset: 40 / 20 / 10
    keep = np.concatenate([np.where(ytr == 0)[0][:40], np.where(ytr == 1)[0][:20], np.where(ytr == 2)[0][:10]])
    keep.sort()
    Xb, yb = make_blobs(n_samples=100, centers=2, n_features=4, cluster_std=3.0, random_state=7)
    Xb = f32(Xb)
    yb = np.where(yb == 0, 3, 8)  # labels that are not 0..k-1
    cases = [
        case('rbf-scale-none', SVC(C=1.0, gamma='scale'), Xtr, ytr, Xte, 'none', {'kernel': 'rbf', 'C': 1, 'gamma': 'scale'}),
        case('linear-standardize', make_pipeline(StandardScaler(), SVC(kernel='linear', C=0.5)), Xtr, ytr, Xte, 'standardize',
             {'kernel': 'linear', 'C': 0.5}),
        case('rbf-balanced-l2', make_pipeline(Normalizer(), SVC(C=10.0, gamma=2.0, class_weight='balanced')), Xtr[keep], ytr[keep], Xte,
             'l2', {'kernel': 'rbf', 'C': 10, 'gamma': 2.0, 'classWeight': 'balanced'}),
        case('binary-rbf-standardize', make_pipeline(StandardScaler(), SVC(C=2.0, gamma='scale')), Xb[:80], yb[:80], Xb[80:], 'standardize',
             {'kernel': 'rbf', 'C': 2, 'gamma': 'scale'}),
        case('proba-rbf-none', SVC(C=1.0, gamma='scale', probability=True, random_state=0), Xtr, ytr, Xte, 'none',
             {'kernel': 'rbf', 'C': 1, 'gamma': 'scale', 'probability': True}),
        case('proba-binary-none', SVC(C=2.0, gamma=0.05, probability=True, random_state=0), Xb[:80], yb[:80], Xb[80:], 'none',
             {'kernel': 'rbf', 'C': 2, 'gamma': 0.05, 'probability': True}),
    ]

    # StratifiedKFold without shuffle: exact folds.
    yf = rng.choice([5, 1, 9], size=37, p=[0.5, 0.3, 0.2])
    skf = StratifiedKFold(n_splits=5)
    test_fold = np.empty(len(yf), dtype=int)
    for f, (_, te) in enumerate(skf.split(np.zeros(len(yf)), yf)):
        test_fold[te] = f

    # Small grid search with unshuffled 3-fold, standardized, on overlapping blobs (scores vary).
    Xg, yg = make_blobs(n_samples=120, centers=3, n_features=6, cluster_std=5.0, random_state=3)
    Xg = f32(Xg)
    log2c = [-1, 1, 3]
    log2g = [-5, -3, -1]
    gs = GridSearchCV(make_pipeline(StandardScaler(), SVC()),
                      {'svc__C': [2.0 ** c for c in log2c], 'svc__gamma': [2.0 ** g for g in log2g]},
                      cv=StratifiedKFold(n_splits=3), n_jobs=1)
    gs.fit(Xg, yg)
    table = []
    for params, mean, split_scores in zip(gs.cv_results_['params'], gs.cv_results_['mean_test_score'],
                                          zip(*[gs.cv_results_['split%d_test_score' % i] for i in range(3)])):
        table.append({'C': params['svc__C'], 'gamma': params['svc__gamma'], 'mean': float(mean),
                      'folds': [float(s) for s in split_scores]})
    out = {
        'generator': 'bench/svm/make_fixtures.py',
        'sklearn': sklearn.__version__,
        'numpy': np.__version__,
        'cases': cases,
        'stratifiedKFold': {'y': yf.tolist(), 'k': 5, 'testFold': test_fold.tolist()},
        'grid': {'X': Xg.tolist(), 'y': yg.tolist(), 'folds': 3, 'log2C': log2c, 'log2Gamma': log2g, 'table': table,
                 'bestParams': {'C': gs.best_params_['svc__C'], 'gamma': gs.best_params_['svc__gamma']},
                 'bestScore': float(gs.best_score_)},
    }
    path = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/svm/sklearn_svc.json'
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', path)


if __name__ == '__main__':
    main()
