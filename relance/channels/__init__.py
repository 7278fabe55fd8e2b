"""Channels: the ways a message reaches a customer, one module per channel behind one
interface (``base.Transport``), found by the outbox through ``registry``; the message
templates and what they are given (``context``, ``formatting``). E-mail is the one channel
today (``email``, ``smtp``). The outbox that drives them is dunning's (``dunning.outbox``)."""
