"""Not written yet."""


def inv(*args, **kwargs):
    raise NotImplementedError('inv')


def det(*args, **kwargs):
    raise NotImplementedError('det')


def trace(*args, **kwargs):
    raise NotImplementedError('trace')


def norm(*args, **kwargs):
    raise NotImplementedError('norm')


def eigh(*args, **kwargs):
    raise NotImplementedError('eigh')


def svd(*args, **kwargs):
    raise NotImplementedError('svd')


def eig(*args, **kwargs):
    raise NotImplementedError('eig')
