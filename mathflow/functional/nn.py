"""Not written yet."""


def relu(*args, **kwargs):
    raise NotImplementedError('relu')


def leaky_relu(*args, **kwargs):
    raise NotImplementedError('leaky_relu')


def sigmoid(*args, **kwargs):
    raise NotImplementedError('sigmoid')


def tanh(*args, **kwargs):
    raise NotImplementedError('tanh')


def softmax(*args, **kwargs):
    raise NotImplementedError('softmax')


def log_softmax(*args, **kwargs):
    raise NotImplementedError('log_softmax')


def logsumexp(*args, **kwargs):
    raise NotImplementedError('logsumexp')


def dropout(*args, **kwargs):
    raise NotImplementedError('dropout')
