//! Expressions: a tokenizer, a precedence-climbing parser and an evaluator for the XLSForm/XPath subset that
//! `relevant`, `constraint`, `calculation`, `choice_filter` and eligibility `rule` cells use.

use std::fmt;

use chrono::NaiveDate;

use crate::value::{Value, epoch};

/// How deep an expression may nest. Real forms stay far below; the limit keeps parsing, printing and evaluating
/// inside a small stack whatever a definition file holds.
const MAX_DEPTH: usize = 128;
/// Longest expression text accepted, in characters.
const MAX_LENGTH: usize = 10_000;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A text, integer or decimal literal.
    Literal(Value),
    /// `${name}`: a question, a calculation or a context fact.
    Ref(String),
    /// `.`: the answer being checked (constraints only).
    Current,
    /// A bare name: a column of the choices sheet (`choice_filter` only).
    Column(String),
    Negate(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call(Function, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

impl BinaryOp {
    fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Equal => "=",
            BinaryOp::NotEqual => "!=",
            BinaryOp::Less => "<",
            BinaryOp::LessOrEqual => "<=",
            BinaryOp::Greater => ">",
            BinaryOp::GreaterOrEqual => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Subtract => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "div",
            BinaryOp::Modulo => "mod",
        }
    }

    /// XPath precedence, loosest first.
    fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Equal | BinaryOp::NotEqual => 3,
            BinaryOp::Less
            | BinaryOp::LessOrEqual
            | BinaryOp::Greater
            | BinaryOp::GreaterOrEqual => 4,
            BinaryOp::Add | BinaryOp::Subtract => 5,
            BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Modulo => 6,
        }
    }
}

macro_rules! functions {
    ($($variant:ident => $name:literal, $min:literal, $max:expr;)*) => {
        /// The functions an expression may call.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Function { $($variant),* }

        impl Function {
            /// Every function with its name, for documentation and error messages.
            pub const ALL: &'static [Function] = &[$(Function::$variant),*];

            pub fn parse(name: &str) -> Option<Function> {
                match name {
                    $($name => Some(Function::$variant),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(Function::$variant => $name),* }
            }

            /// Least and most arguments (`None`: any number).
            pub fn arity(self) -> (usize, Option<usize>) {
                match self { $(Function::$variant => ($min, $max)),* }
            }
        }
    };
}

functions! {
    If => "if", 3, Some(3);
    Not => "not", 1, Some(1);
    True => "true", 0, Some(0);
    False => "false", 0, Some(0);
    Boolean => "boolean", 1, Some(1);
    Selected => "selected", 2, Some(2);
    CountSelected => "count-selected", 1, Some(1);
    StringLength => "string-length", 1, Some(1);
    Regex => "regex", 2, Some(2);
    Contains => "contains", 2, Some(2);
    StartsWith => "starts-with", 2, Some(2);
    EndsWith => "ends-with", 2, Some(2);
    Substr => "substr", 2, Some(3);
    Concat => "concat", 1, None;
    String => "string", 1, Some(1);
    Coalesce => "coalesce", 2, Some(2);
    Today => "today", 0, Some(0);
    Date => "date", 1, Some(1);
    DecimalDateTime => "decimal-date-time", 1, Some(1);
    Int => "int", 1, Some(1);
    Number => "number", 1, Some(1);
    Round => "round", 1, Some(2);
    Floor => "floor", 1, Some(1);
    Ceiling => "ceiling", 1, Some(1);
    Abs => "abs", 1, Some(1);
    Min => "min", 1, None;
    Max => "max", 1, None;
    ChoiceScore => "choice-score", 1, Some(1);
}

/// Why an expression text does not parse: a message and the 0-based character where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub position: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} (at character {})",
            self.message,
            self.position + 1
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(Value),
    Text(String),
    Ref(String),
    Dot,
    Name(String),
    Operator(BinaryOp),
    Minus,
    LeftParen,
    RightParen,
    Comma,
}

fn describe(token: &Token) -> String {
    match token {
        Token::Number(value) => format!("number {value}"),
        Token::Text(text) => format!("text '{text}'"),
        Token::Ref(name) => format!("${{{name}}}"),
        Token::Dot => "'.'".to_owned(),
        Token::Name(name) => format!("'{name}'"),
        Token::Operator(op) => format!("'{}'", op.symbol()),
        Token::Minus => "'-'".to_owned(),
        Token::LeftParen => "'('".to_owned(),
        Token::RightParen => "')'".to_owned(),
        Token::Comma => "','".to_owned(),
    }
}

fn is_name_start(character: char) -> bool {
    character.is_ascii_alphabetic() || character == '_'
}

fn is_name_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '_' | '.' | '-' | ':')
}

/// True for a name XLSForm accepts for a question, a choice list or a rule (an XML name without a colon).
pub fn is_valid_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters.next().is_some_and(is_name_start)
        && characters.all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '_' | '.' | '-')
        })
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, SyntaxError> {
    let characters: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    let error = |message: String, position: usize| Err(SyntaxError { message, position });
    while index < characters.len() {
        let character = characters[index];
        let start = index;
        match character {
            _ if character.is_whitespace() => {
                index += 1;
                continue;
            }
            '$' => {
                if characters.get(index + 1) != Some(&'{') {
                    return error("'$' must start a reference like ${name}".to_owned(), start);
                }
                let Some(close) = characters[index + 2..].iter().position(|c| *c == '}') else {
                    return error("reference '${' is not closed with '}'".to_owned(), start);
                };
                let name: String = characters[index + 2..index + 2 + close].iter().collect();
                if !is_valid_name(&name) {
                    return error(
                        format!("'{name}' is not a valid name in ${{{name}}}"),
                        start,
                    );
                }
                tokens.push((Token::Ref(name), start));
                index += close + 3;
            }
            '\'' | '"' => {
                let Some(close) = characters[index + 1..].iter().position(|c| *c == character)
                else {
                    return error(
                        format!("text starting with {character} is not closed"),
                        start,
                    );
                };
                let literal: String = characters[index + 1..index + 1 + close].iter().collect();
                tokens.push((Token::Text(literal), start));
                index += close + 2;
            }
            '0'..='9' | '.' => {
                let mut end = index;
                while end < characters.len() && characters[end].is_ascii_digit() {
                    end += 1;
                }
                let mut decimal = false;
                if end < characters.len() && characters[end] == '.' {
                    decimal = true;
                    end += 1;
                    while end < characters.len() && characters[end].is_ascii_digit() {
                        end += 1;
                    }
                }
                let literal: String = characters[index..end].iter().collect();
                if literal == "." {
                    tokens.push((Token::Dot, start));
                } else if literal == ".." {
                    return error("'..' (parent) is not supported".to_owned(), start);
                } else if decimal {
                    let number = literal.parse::<f64>().unwrap_or(f64::NAN);
                    tokens.push((Token::Number(Value::Decimal(number)), start));
                } else {
                    let number = match literal.parse::<i64>() {
                        Ok(integer) => Value::Integer(integer),
                        Err(_) => Value::Decimal(literal.parse::<f64>().unwrap_or(f64::NAN)),
                    };
                    tokens.push((Token::Number(number), start));
                }
                if let Some((Token::Number(value), _)) = tokens.last()
                    && !value.to_number().is_finite()
                {
                    return error(format!("number {literal} is too large"), start);
                }
                if characters.get(end).is_some_and(|c| is_name_start(*c)) {
                    return error("a number must not run into a name".to_owned(), end);
                }
                index = end;
            }
            _ if is_name_start(character) => {
                let mut end = index + 1;
                while end < characters.len() && is_name_char(characters[end]) {
                    // A '-' belongs to the name only when a letter follows (`count-selected`), so `a -1` and
                    // `2 div-1` still subtract.
                    if characters[end] == '-'
                        && !characters
                            .get(end + 1)
                            .is_some_and(|c| c.is_ascii_alphabetic())
                    {
                        break;
                    }
                    end += 1;
                }
                let name: String = characters[index..end].iter().collect();
                let token = match name.as_str() {
                    "and" => Token::Operator(BinaryOp::And),
                    "or" => Token::Operator(BinaryOp::Or),
                    "div" => Token::Operator(BinaryOp::Divide),
                    "mod" => Token::Operator(BinaryOp::Modulo),
                    _ => Token::Name(name),
                };
                tokens.push((token, start));
                index = end;
            }
            '(' | ')' | ',' | '+' | '-' | '*' | '=' => {
                let token = match character {
                    '(' => Token::LeftParen,
                    ')' => Token::RightParen,
                    ',' => Token::Comma,
                    '+' => Token::Operator(BinaryOp::Add),
                    '-' => Token::Minus,
                    '*' => Token::Operator(BinaryOp::Multiply),
                    _ => Token::Operator(BinaryOp::Equal),
                };
                tokens.push((token, start));
                index += 1;
            }
            '!' | '<' | '>' => {
                let followed_by_equals = characters.get(index + 1) == Some(&'=');
                let op = match (character, followed_by_equals) {
                    ('!', true) => BinaryOp::NotEqual,
                    ('!', false) => {
                        return error(
                            "'!' must be followed by '=' (use not() to negate)".to_owned(),
                            start,
                        );
                    }
                    ('<', true) => BinaryOp::LessOrEqual,
                    ('<', false) => BinaryOp::Less,
                    ('>', true) => BinaryOp::GreaterOrEqual,
                    _ => BinaryOp::Greater,
                };
                tokens.push((Token::Operator(op), start));
                index += if followed_by_equals { 2 } else { 1 };
            }
            _ => return error(format!("unexpected character '{character}'"), start),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    next: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(token, _)| token)
    }

    fn position(&self) -> usize {
        self.tokens
            .get(self.next)
            .map_or(self.end, |(_, position)| *position)
    }

    fn error<T>(&self, message: String) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            message,
            position: self.position(),
        })
    }

    fn too_deep<T>(&self) -> Result<T, SyntaxError> {
        self.error(format!(
            "expression nests more than {MAX_DEPTH} levels deep"
        ))
    }

    /// Precedence climbing: parses operators binding at least as tightly as `min_precedence`.
    /// Returns the expression and its depth.
    fn expression(
        &mut self,
        min_precedence: u8,
        depth: usize,
    ) -> Result<(Expr, usize), SyntaxError> {
        let (mut left, mut left_depth) = self.unary(depth)?;
        loop {
            let op = match self.peek() {
                Some(Token::Operator(op)) => *op,
                Some(Token::Minus) => BinaryOp::Subtract,
                _ => break,
            };
            if op.precedence() < min_precedence {
                break;
            }
            self.next += 1;
            let (right, right_depth) = self.expression(op.precedence() + 1, depth + 1)?;
            left_depth = left_depth.max(right_depth) + 1;
            if left_depth > MAX_DEPTH {
                return self.too_deep();
            }
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok((left, left_depth))
    }

    fn unary(&mut self, depth: usize) -> Result<(Expr, usize), SyntaxError> {
        if depth > MAX_DEPTH {
            return self.too_deep();
        }
        if self.peek() == Some(&Token::Minus) {
            self.next += 1;
            let (operand, operand_depth) = self.unary(depth + 1)?;
            return Ok((Expr::Negate(Box::new(operand)), operand_depth + 1));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<(Expr, usize), SyntaxError> {
        let Some((token, _)) = self.tokens.get(self.next).cloned() else {
            return self.error("expression ends too early".to_owned());
        };
        self.next += 1;
        match token {
            Token::Number(value) => Ok((Expr::Literal(value), 1)),
            Token::Text(text) => Ok((Expr::Literal(Value::Text(text)), 1)),
            Token::Ref(name) => Ok((Expr::Ref(name), 1)),
            Token::Dot => Ok((Expr::Current, 1)),
            Token::LeftParen => {
                let (inner, inner_depth) = self.expression(0, depth + 1)?;
                if self.peek() != Some(&Token::RightParen) {
                    return self.error("expected ')'".to_owned());
                }
                self.next += 1;
                Ok((inner, inner_depth))
            }
            Token::Name(name) => {
                if self.peek() != Some(&Token::LeftParen) {
                    return Ok((Expr::Column(name), 1));
                }
                let name_position = self
                    .tokens
                    .get(self.next - 1)
                    .map_or(0, |(_, position)| *position);
                let Some(function) = Function::parse(&name) else {
                    return Err(SyntaxError {
                        message: format!("unknown function '{name}'"),
                        position: name_position,
                    });
                };
                self.next += 1;
                let mut arguments = Vec::new();
                let mut arguments_depth = 0;
                if self.peek() == Some(&Token::RightParen) {
                    self.next += 1;
                } else {
                    loop {
                        let (argument, argument_depth) = self.expression(0, depth + 1)?;
                        arguments.push(argument);
                        arguments_depth = arguments_depth.max(argument_depth);
                        match self.peek() {
                            Some(Token::Comma) => self.next += 1,
                            Some(Token::RightParen) => {
                                self.next += 1;
                                break;
                            }
                            _ => return self.error(format!("expected ',' or ')' in {name}(...)")),
                        }
                    }
                }
                let (least, most) = function.arity();
                let count = arguments.len();
                if count < least || most.is_some_and(|most| count > most) {
                    let expected = match most {
                        Some(most) if most == least => format!("{least}"),
                        Some(most) => format!("{least} to {most}"),
                        None => format!("at least {least}"),
                    };
                    return Err(SyntaxError {
                        message: format!("{name}() takes {expected} argument(s), not {count}"),
                        position: name_position,
                    });
                }
                if function == Function::ChoiceScore
                    && !matches!(arguments.first(), Some(Expr::Ref(_)))
                {
                    return Err(SyntaxError {
                        message: "choice-score() takes a question reference like ${name}"
                            .to_owned(),
                        position: name_position,
                    });
                }
                if arguments_depth + 1 > MAX_DEPTH {
                    return self.too_deep();
                }
                Ok((Expr::Call(function, arguments), arguments_depth + 1))
            }
            other => Err(SyntaxError {
                message: format!("unexpected {}", describe(&other)),
                position: self
                    .tokens
                    .get(self.next - 1)
                    .map_or(self.end, |(_, position)| *position),
            }),
        }
    }
}

impl Expr {
    /// Parses an expression, rejecting syntax errors, unknown functions and wrong argument counts.
    pub fn parse(text: &str) -> Result<Expr, SyntaxError> {
        let length = text.chars().count();
        if length > MAX_LENGTH {
            return Err(SyntaxError {
                message: format!("expression longer than {MAX_LENGTH} characters"),
                position: 0,
            });
        }
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err(SyntaxError {
                message: "expression is empty".to_owned(),
                position: 0,
            });
        }
        let mut parser = Parser {
            tokens,
            next: 0,
            end: length,
        };
        let (expr, _) = parser.expression(0, 0)?;
        if let Some(token) = parser.peek() {
            let message = format!(
                "unexpected {} after the end of the expression",
                describe(token)
            );
            return parser.error(message);
        }
        Ok(expr)
    }

    /// Calls `visit` on every node, parents before children.
    pub fn walk(&self, visit: &mut dyn FnMut(&Expr)) {
        visit(self);
        match self {
            Expr::Literal(_) | Expr::Ref(_) | Expr::Current | Expr::Column(_) => {}
            Expr::Negate(operand) => operand.walk(visit),
            Expr::Binary(_, left, right) => {
                left.walk(visit);
                right.walk(visit);
            }
            Expr::Call(_, arguments) => arguments.iter().for_each(|argument| argument.walk(visit)),
        }
    }

    /// The `${names}` the expression reads, in order of appearance, without repeats.
    pub fn references(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        self.walk(&mut |node| {
            if let Expr::Ref(name) = node
                && !names.contains(name)
            {
                names.push(name.clone());
            }
        });
        names
    }
}

/// Prints an expression that parses back to the same tree: every binary operation in parentheses.
impl fmt::Display for Expr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(Value::Text(text)) => {
                if text.contains('\'') {
                    write!(formatter, "\"{text}\"")
                } else {
                    write!(formatter, "'{text}'")
                }
            }
            Expr::Literal(Value::Integer(number)) => write!(formatter, "{number}"),
            Expr::Literal(Value::Decimal(number)) => {
                let printed = format!("{number}");
                if printed.contains('.') {
                    write!(formatter, "{printed}")
                } else {
                    write!(formatter, "{printed}.0")
                }
            }
            Expr::Literal(other) => write!(formatter, "'{other}'"),
            Expr::Ref(name) => write!(formatter, "${{{name}}}"),
            Expr::Current => write!(formatter, "."),
            Expr::Column(name) => write!(formatter, "{name}"),
            Expr::Negate(operand) => write!(formatter, "-{operand}"),
            Expr::Binary(op, left, right) => write!(formatter, "({left} {} {right})", op.symbol()),
            Expr::Call(function, arguments) => {
                write!(formatter, "{}(", function.name())?;
                for (index, argument) in arguments.iter().enumerate() {
                    if index > 0 {
                        write!(formatter, ", ")?;
                    }
                    write!(formatter, "{argument}")?;
                }
                write!(formatter, ")")
            }
        }
    }
}

/// What an expression can see while it is evaluated.
pub trait Scope {
    /// The value of `${name}`: an answer, a calculation or a context fact (`Empty` when unknown or not relevant).
    fn value(&self, name: &str) -> Value;
    /// The value of `.`.
    fn current(&self) -> Value;
    /// A column of the choice being filtered (`choice_filter`).
    fn column(&self, name: &str) -> Value;
    /// The evaluation date for `today()`.
    fn today(&self) -> NaiveDate;
    /// The sum of the `score` column of the choices selected in question `name` (0 when none).
    fn choice_score(&self, name: &str) -> f64;
}

impl Expr {
    /// Evaluates with XPath-like coercions. Never panics; nonsense yields NaN, empty or false.
    pub fn evaluate(&self, scope: &dyn Scope) -> Value {
        match self {
            Expr::Literal(value) => value.clone(),
            Expr::Ref(name) => scope.value(name),
            Expr::Current => scope.current(),
            Expr::Column(name) => scope.column(name),
            Expr::Negate(operand) => match operand.evaluate(scope) {
                Value::Integer(number) => number
                    .checked_neg()
                    .map_or(Value::Decimal(-(number as f64)), Value::Integer),
                other => Value::Decimal(-other.to_number()),
            },
            Expr::Binary(BinaryOp::And, left, right) => {
                Value::Bool(left.evaluate(scope).to_bool() && right.evaluate(scope).to_bool())
            }
            Expr::Binary(BinaryOp::Or, left, right) => {
                Value::Bool(left.evaluate(scope).to_bool() || right.evaluate(scope).to_bool())
            }
            Expr::Binary(op, left, right) => {
                binary(*op, &left.evaluate(scope), &right.evaluate(scope))
            }
            Expr::Call(function, arguments) => call(*function, arguments, scope),
        }
    }
}

fn binary(op: BinaryOp, left: &Value, right: &Value) -> Value {
    match op {
        BinaryOp::Equal => Value::Bool(equal(left, right)),
        BinaryOp::NotEqual => Value::Bool(!equal(left, right)),
        BinaryOp::Less | BinaryOp::LessOrEqual | BinaryOp::Greater | BinaryOp::GreaterOrEqual => {
            let (a, b) = comparable_numbers(left, right);
            Value::Bool(match op {
                BinaryOp::Less => a < b,
                BinaryOp::LessOrEqual => a <= b,
                BinaryOp::Greater => a > b,
                _ => a >= b,
            })
        }
        _ => arithmetic(op, left, right),
    }
}

/// Both sides as numbers for `<`, `>` and the like; a date against a date-like text compares as days.
fn comparable_numbers(left: &Value, right: &Value) -> (f64, f64) {
    if matches!(left, Value::Date(_)) || matches!(right, Value::Date(_)) {
        let as_days = |value: &Value| match value {
            Value::Text(_) => value
                .to_date()
                .map_or(f64::NAN, |date| (date - epoch()).num_days() as f64),
            other => other.to_number(),
        };
        return (as_days(left), as_days(right));
    }
    (left.to_number(), right.to_number())
}

/// XPath `=`: booleans compare as booleans, then numbers as numbers (NaN equals nothing), then dates, then text.
fn equal(left: &Value, right: &Value) -> bool {
    if matches!(left, Value::Bool(_)) || matches!(right, Value::Bool(_)) {
        return left.to_bool() == right.to_bool();
    }
    if left.is_number() || right.is_number() {
        return left.to_number() == right.to_number();
    }
    if matches!(left, Value::Date(_)) || matches!(right, Value::Date(_)) {
        return match (left.to_date(), right.to_date()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
    }
    left.to_text() == right.to_text()
}

fn arithmetic(op: BinaryOp, left: &Value, right: &Value) -> Value {
    if let (Value::Integer(a), Value::Integer(b)) = (left, right) {
        let exact = match op {
            BinaryOp::Add => a.checked_add(*b),
            BinaryOp::Subtract => a.checked_sub(*b),
            BinaryOp::Multiply => a.checked_mul(*b),
            BinaryOp::Modulo => a.checked_rem(*b),
            _ => None,
        };
        if let Some(result) = exact {
            return Value::Integer(result);
        }
    }
    let (a, b) = (left.to_number(), right.to_number());
    Value::Decimal(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Subtract => a - b,
        BinaryOp::Multiply => a * b,
        BinaryOp::Divide => a / b,
        _ => a % b,
    })
}

/// A whole number as `Integer` when it fits, else as `Decimal` (NaN and infinities included).
fn whole(number: f64) -> Value {
    if number.is_finite() && number.abs() < 9.0e18 {
        Value::Integer(number as i64)
    } else {
        Value::Decimal(number)
    }
}

fn call(function: Function, arguments: &[Expr], scope: &dyn Scope) -> Value {
    let argument = |index: usize| {
        arguments
            .get(index)
            .map_or(Value::Empty, |argument| argument.evaluate(scope))
    };
    match function {
        Function::If => {
            if argument(0).to_bool() {
                argument(1)
            } else {
                argument(2)
            }
        }
        Function::Not => Value::Bool(!argument(0).to_bool()),
        Function::True => Value::Bool(true),
        Function::False => Value::Bool(false),
        Function::Boolean => Value::Bool(argument(0).to_bool()),
        Function::Selected => {
            let wanted = argument(1).to_text();
            let wanted = wanted.trim();
            Value::Bool(
                argument(0)
                    .to_choices()
                    .iter()
                    .any(|choice| choice == wanted),
            )
        }
        Function::CountSelected => Value::Integer(argument(0).to_choices().len() as i64),
        Function::StringLength => Value::Integer(argument(0).to_text().chars().count() as i64),
        Function::Regex => {
            let text = argument(0).to_text();
            let pattern = argument(1).to_text();
            Value::Bool(regex_matches(&pattern, &text))
        }
        Function::Contains => Value::Bool(argument(0).to_text().contains(&argument(1).to_text())),
        Function::StartsWith => {
            Value::Bool(argument(0).to_text().starts_with(&argument(1).to_text()))
        }
        Function::EndsWith => Value::Bool(argument(0).to_text().ends_with(&argument(1).to_text())),
        Function::Substr => {
            let characters: Vec<char> = argument(0).to_text().chars().collect();
            let start = clamp_index(argument(1).to_number(), characters.len());
            let end = if arguments.len() > 2 {
                let length = argument(2).to_number();
                clamp_index(argument(1).to_number() + length, characters.len())
            } else {
                characters.len()
            };
            Value::Text(
                characters
                    .get(start..end.max(start))
                    .map_or_else(String::new, |slice| slice.iter().collect()),
            )
        }
        Function::Concat => Value::Text(
            arguments
                .iter()
                .map(|argument| argument.evaluate(scope).to_text())
                .collect(),
        ),
        Function::String => Value::Text(argument(0).to_text()),
        Function::Coalesce => {
            let first = argument(0);
            if first.is_empty() { argument(1) } else { first }
        }
        Function::Today => Value::Date(scope.today()),
        Function::Date => argument(0).to_date().map_or(Value::Empty, Value::Date),
        Function::DecimalDateTime => {
            let value = argument(0);
            match value {
                Value::Text(_) => value.to_date().map_or(Value::Decimal(f64::NAN), |date| {
                    Value::Decimal((date - epoch()).num_days() as f64)
                }),
                other => Value::Decimal(other.to_number()),
            }
        }
        Function::Int => whole(argument(0).to_number().trunc()),
        Function::Number => match argument(0) {
            Value::Integer(number) => Value::Integer(number),
            other => Value::Decimal(other.to_number()),
        },
        Function::Round => {
            let number = argument(0).to_number();
            if arguments.len() < 2 {
                return whole((number + 0.5).floor());
            }
            let digits = argument(1).to_number();
            if !digits.is_finite() {
                return Value::Decimal(f64::NAN);
            }
            let factor = 10f64.powi(digits.trunc().clamp(-300.0, 300.0) as i32);
            Value::Decimal((number * factor + 0.5).floor() / factor)
        }
        Function::Floor => whole(argument(0).to_number().floor()),
        Function::Ceiling => whole(argument(0).to_number().ceil()),
        Function::Abs => match argument(0) {
            Value::Integer(number) => number
                .checked_abs()
                .map_or(Value::Decimal((number as f64).abs()), Value::Integer),
            other => Value::Decimal(other.to_number().abs()),
        },
        Function::Min | Function::Max => {
            let values: Vec<Value> = arguments
                .iter()
                .map(|argument| argument.evaluate(scope))
                .collect();
            extreme(function == Function::Max, &values)
        }
        Function::ChoiceScore => match arguments.first() {
            Some(Expr::Ref(name)) => Value::Decimal(scope.choice_score(name)),
            _ => Value::Decimal(f64::NAN),
        },
    }
}

/// `min` and `max`: NaN as soon as one argument is not a number (ODK); integers stay integers.
fn extreme(largest: bool, values: &[Value]) -> Value {
    let mut best: Option<&Value> = None;
    for value in values {
        let number = value.to_number();
        if number.is_nan() {
            return Value::Decimal(f64::NAN);
        }
        let better = best.is_none_or(|best| {
            if largest {
                number > best.to_number()
            } else {
                number < best.to_number()
            }
        });
        if better {
            best = Some(value);
        }
    }
    match best {
        Some(Value::Integer(number)) => Value::Integer(*number),
        Some(other) => Value::Decimal(other.to_number()),
        None => Value::Decimal(f64::NAN),
    }
}

/// XPath `substr` positions count from 1 and round; clamp into the text.
fn clamp_index(position: f64, length: usize) -> usize {
    if position.is_nan() {
        return length;
    }
    let rounded = (position + 0.5).floor() - 1.0;
    rounded.clamp(0.0, length as f64) as usize
}

/// Whether `text` matches `pattern`; an invalid pattern matches nothing. Compiled patterns are cached per thread
/// (a form's patterns are few and evaluated for every submission); the cache is emptied when it grows past 256.
fn regex_matches(pattern: &str, text: &str) -> bool {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static CACHE: RefCell<HashMap<String, Option<regex::Regex>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            if cache.len() >= 256 {
                cache.clear();
            }
            cache.insert(pattern.to_owned(), compile_regex(pattern).ok());
        }
        cache
            .get(pattern)
            .and_then(Option::as_ref)
            .is_some_and(|regex| regex.is_match(text))
    })
}

/// Compiles a `regex()` pattern with a size limit, so a hostile definition cannot exhaust memory.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_joins_names_only_before_a_letter() {
        let tokens: Vec<Token> = tokenize("count-selected(${a}) -1 div-2")
            .unwrap()
            .into_iter()
            .map(|(token, _)| token)
            .collect();
        assert_eq!(tokens[0], Token::Name("count-selected".into()));
        assert!(tokens.contains(&Token::Minus));
        assert!(tokens.contains(&Token::Operator(BinaryOp::Divide)));
        assert_eq!(Expr::parse("5 -1").unwrap().to_string(), "(5 - 1)");
    }

    #[test]
    fn references_are_listed_once_in_order() {
        let expr = Expr::parse("${b} + ${a} * ${b} + coalesce(${c}, 1)").unwrap();
        assert_eq!(expr.references(), vec!["b", "a", "c"]);
    }

    #[test]
    fn every_function_name_parses_back() {
        for function in Function::ALL {
            assert_eq!(Function::parse(function.name()), Some(*function));
        }
    }
}
