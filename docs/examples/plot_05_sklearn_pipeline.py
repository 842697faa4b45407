"""
DN features in a scikit-learn pipeline
======================================

Telling the built-in ``food`` crops from the ``city`` crops with the paper's
recognition pipeline (section 4.3): dense descriptors from the absolute layer-1
feature maps of the footnote-4 network, a visual vocabulary by k-means, spatial
pyramid histograms and an SVM on the histogram-intersection kernel.  Both steps are
scikit-learn estimators, so ``make_pipeline`` and ``cross_val_score`` take them
as they are.  (Table 1's run, ``reproduce/table1_recognition.py``, uses 1000 words
and a labelled set of ten classes.)
"""
import time

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from numbadn.data import load_images
from numbadn.recognition import DNDescriptors, SPMClassifier, pretrained_model

food, city = load_images("food"), load_images("city")          # 26 + 26 grey 100x100
X = food + city
y = np.array([0] * len(food) + [1] * len(city))

pipe = make_pipeline(
    DNDescriptors(model=pretrained_model(), layers=(1,)),
    SPMClassifier("dn-1", n_words=50, levels=2, random_state=0))
print(pipe)

# %%
# Three-fold cross-validation: the descriptors are computed anew in every fold.
t0 = time.perf_counter()
scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
print(f"food vs city: accuracy {scores.mean():.2f} (folds {np.round(scores, 2)}), "
      f"chance 0.50; {time.perf_counter() - t0:.0f} s")
