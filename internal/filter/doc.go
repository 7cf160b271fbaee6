// Package filter compiles and evaluates RocketMQ SQL92 message filters, the
// expressions a consumer subscribes with when expressionType is SQL92. The
// broker compiles the expression when the subscription arrives (rejecting it
// with SUBSCRIPTION_PARSE_FAILED, the *SyntaxError text as remark) and calls
// Match for every candidate message at pull time, over the message's
// properties: user properties plus system ones such as TAGS and KEYS.
//
// The grammar, checks and evaluation follow RocketMQ 4.9 (apache/rocketmq
// filter/src/main/java/org/apache/rocketmq/filter: parser/SelectorParser.jj,
// expression/ComparisonExpression.java, UnaryExpression.java,
// LogicExpression.java, ConstantExpression.java) and the broker's
// ExpressionMessageFilter. The package owns no goroutines; an *Expr is
// immutable and safe for concurrent use.
//
// # Grammar
//
//	expr       = or
//	or         = and { OR and }
//	and        = equality { AND equality }
//	equality   = comparison { ( "=" | "<>" ) comparison | IS [ NOT ] NULL }
//	comparison = unary { ( ">" | ">=" | "<" | "<=" ) unary
//	                   | [ NOT ] BETWEEN unary AND unary
//	                   | [ NOT ] IN "(" string { "," string } ")" }
//	unary      = "+" unary | "-" unary | NOT unary | primary
//	primary    = string | integer | decimal | TRUE | FALSE | NULL | ident | "(" or ")"
//
//	ident   = [A-Za-z_$] [A-Za-z0-9_$]*       (not a keyword; case-sensitive)
//	integer = "0" | [1-9] [0-9]* [lL]?         (a long; an int if it fits in 32 bits)
//	decimal = digits "." digits? exp? | "." digits exp? | digits exp
//	exp     = [eE] [+-]? digits
//	string  = "'" { any character but "'" | "''" } "'"
//
// Keywords (NOT AND OR BETWEEN IN TRUE FALSE NULL IS) are case-insensitive.
// Whitespace is space, tab, CR, LF and FF; "/* */" comments are skipped, and so
// is "--" up to a line break (without a line break "--" is two minus signs).
// Identifiers cannot contain "." in RocketMQ 4.9, so neither here. 4.9 has no
// CONTAINS, STARTSWITH or ENDSWITH (they arrived in 5.x), and no LIKE.
//
// Note the precedences: NOT is a prefix operator that binds tighter than any
// comparison, so "NOT a = 'x'" is "(NOT a) = 'x'"; write "NOT (a = 'x')" or
// "a <> 'x'".
//
// Compile also makes the type checks RocketMQ's parser makes: NULL cannot be
// an operand of = or <>; the operands of >, >=, <, <= and BETWEEN are
// properties, numeric literals or negations; IN needs a property on its left;
// AND, OR, NOT and the whole expression need conditions (a bare property is
// allowed and is NULL when missing, FALSE otherwise); BETWEEN with two literal
// bounds needs low <= high; a decimal literal must be a positive finite double
// (so 0.0 is rejected, as in 4.9). Unlike 4.9, which stops parsing after the
// first complete expression and ignores what follows, Compile rejects
// trailing tokens.
//
// # Evaluation
//
// Property values are strings; a missing property (or, in a raw property
// string, one with an empty value) is NULL. Evaluation follows 4.9 exactly:
//
//   - A comparison with NULL on either side gives NULL (unknown), except in
//     "=": NULL = NULL is TRUE, and a value on the left with NULL on the right
//     is FALSE, while NULL on the left is NULL. So with a missing, "a = 'x'"
//     is NULL but "'x' = a" is FALSE and "'x' <> a" is TRUE. "<>" is NOT "=".
//     IS [NOT] NULL is never unknown.
//   - A string compared with a number is parsed as that number's type: as a
//     32-bit int for an integer literal that fits (Integer.valueOf), as a long
//     for a larger one, as a double for a decimal (Double.valueOf, which trims
//     and accepts NaN, Infinity and hexadecimal forms). So "a > 5" needs a to
//     be an integer: "5.5" does not parse as one. A string compared with TRUE
//     or FALSE is true only for "true" in any case.
//   - Two properties compared with >, >=, <, <= are both parsed as doubles;
//     with = or <> they are compared as strings.
//   - A conversion that fails is an evaluation error, not a FALSE: it makes the
//     whole expression fail to match, as the Java broker catches the exception
//     and drops the message, unless AND or OR had already short-circuited.
//   - AND and OR evaluate left to right: AND gives FALSE at the first FALSE,
//     OR gives TRUE at the first TRUE; otherwise any NULL gives NULL. NOT NULL
//     is NULL. [NOT] IN on a missing property is NULL.
//   - A message matches only when the expression is TRUE.
//
// # Example
//
//	e, err := filter.Compile("TAGS IN ('a', 'b') AND price > 100")
//	if err != nil {
//		// answer SUBSCRIPTION_PARSE_FAILED with err.Error() as remark
//	}
//	if e.MatchRaw(record.Properties) { // the stored property string
//		// deliver
//	}
//
// Imports: the standard library and pkg/message only.
package filter
