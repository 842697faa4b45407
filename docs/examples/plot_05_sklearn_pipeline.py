"""
DN features in a scikit-learn pipeline
======================================

Telling the built-in ``natural`` crops from the ``city`` crops with the paper's
recognition pipeline (section 4.3): dense descriptors from the absolute layer-1
feature maps of the footnote-4 network, a visual vocabulary by k-means, spatial
pyramid histograms and an SVM on the histogram-intersection kernel.  Both steps are
scikit-learn estimators, so ``make_pipeline`` and ``cross_val_score`` take them
as they are.  (Table 1's run, ``reproduce/table1_recognition.py``, uses 1000 words
and a labelled set of ten classes.)
"""
import time

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from numbadn.data import load_images
from numbadn.recognition import DNDescriptors, SPMClassifier, pretrained_model

natural, city = load_images("natural"), load_images("city")          # 26 + 26 grey 100x100
X = natural + city
y = np.array([0] * len(natural) + [1] * len(city))

pipe = make_pipeline(
    DNDescriptors(model=pretrained_model(), layers=(1,)),
    SPMClassifier("dn-1", n_words=50, levels=2, random_state=0))
print(pipe)

# %%
# Half of each set to train on, the other half to test.  (The pipeline is fitted
# as it is: scikit-learn's ``clone``, which ``cross_val_score`` applies, would
# also clone the trained network inside ``DNDescriptors`` into an untrained one.)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y,
                                                    random_state=0)
t0 = time.perf_counter()
pipe.fit(X_train, y_train)
accuracy = pipe.score(X_test, y_test)
print(f"natural vs city: accuracy {accuracy:.2f} on {len(y_test)} test crops (chance 0.50); "
      f"{time.perf_counter() - t0:.0f} s")
