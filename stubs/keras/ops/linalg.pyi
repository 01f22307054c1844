# keras.ops.linalg: the linear-algebra functions of keras.ops, the same objects.
from keras.ops import cholesky as cholesky
from keras.ops import cholesky_inverse as cholesky_inverse
from keras.ops import det as det
from keras.ops import eig as eig
from keras.ops import eigh as eigh
from keras.ops import inv as inv
from keras.ops import jvp as jvp
from keras.ops import lstsq as lstsq
from keras.ops import lu_factor as lu_factor
from keras.ops import matrix_rank as matrix_rank
from keras.ops import norm as norm
from keras.ops import pinv as pinv
from keras.ops import qr as qr
from keras.ops import solve as solve
from keras.ops import solve_triangular as solve_triangular
from keras.ops import svd as svd
