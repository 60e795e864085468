"""scikit-learn's side of bench/linear/compare.ts: one fit, timed, on the same features as ftk.

    python3 sklearn_fit.py <train-prefix> <test-prefix> <logistic|linear-svc|linear-svc-primal> <C>

StandardScaler (fitted on the training rows, as ftk's default scaler; counted in the fit time, as
ftk's scaler is part of its fit) then LogisticRegression(C) (lbfgs, multinomial, defaults
tol=1e-4, max_iter=100) or LinearSVC(C) (liblinear dual coordinate descent, squared hinge,
one-vs-rest, tol=1e-4, max_iter=1000; `linear-svc-primal`: the same with dual=False, LIBLINEAR's
primal trust-region Newton solver, -s 2, what scikit-learn >= 1.5's dual='auto' picks here). n_jobs: not used by either (LinearSVC is single-threaded;
multinomial lbfgs ignores n_jobs; numpy's BLAS may use every core). Prints one JSON line.
"""
import json
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

train, test, model, C = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
Xtr = np.load(train + '.npy')
ytr = np.array(json.load(open(train + '.json'))['labels'])
Xte = np.load(test + '.npy')
yte = np.array(json.load(open(test + '.json'))['labels'])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always', ConvergenceWarning)
    t = time.perf_counter()
    scaler = StandardScaler().fit(Xtr)
    Xs = scaler.transform(Xtr)
    clf = LogisticRegression(C=C) if model == 'logistic' else LinearSVC(C=C, dual=(model != 'linear-svc-primal'))
    clf.fit(Xs, ytr)
    seconds = time.perf_counter() - t
acc = clf.score(scaler.transform(Xte), yte)
print(json.dumps({
    'seconds': seconds,
    'accuracy': acc,
    'n_iter': int(np.max(clf.n_iter_)),
    'converged': not any(issubclass(w.category, ConvergenceWarning) for w in caught),
    'sklearn': sklearn.__version__,
    'numpy': np.__version__,
}))
