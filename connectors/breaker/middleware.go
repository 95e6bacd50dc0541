package breaker

import "github.com/ThreeDotsLabs/watermill/message"

// WaitMiddleware is a Watermill handler middleware that calls Wait on the
// named breakers before passing each message on: while a system the handler
// needs refuses calls, its messages wait, uncommitted, instead of failing
// one after another. When a message's context ends first, it gets that
// error and is not handled.
func (s *Set) WaitMiddleware(names ...string) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			if err := s.Wait(msg.Context(), names...); err != nil {
				return nil, err
			}
			return next(msg)
		}
	}
}
